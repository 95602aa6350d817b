"""Compressed weight formats of the sparse operators (numpy only).

dr_format: a pruned depthwise weight as DR sub-GEMMs that store only their kept columns.
group_format: a pruned 1x1-conv / dense weight as row blocks of gr x gc groups.
"""
