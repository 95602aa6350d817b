"""MetaSchedule databases shipped with tvm-dsprune (data only; see README.md here and
tvm_dsprune.tuning.shipped, which finds and opens them)."""
