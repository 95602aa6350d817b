"""Tuning: MetaSchedule over the schedule collection's design spaces, and its databases.

workers: MetaSchedule's builder / runner worker start-up. kernel: one PrimFunc over one rule's
design space. database: JSON databases (TVM's own format) checked against the target.
"""
