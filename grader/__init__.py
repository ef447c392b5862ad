"""grader: automated grading of RNN backpropagation homework.

The pipeline (grader/pipeline.py): load -> extract -> sandbox -> check -> score -> report.
"""
