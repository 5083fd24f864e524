"""Evaluation of question sets: retrieval, answer, citation, refusal and latency metrics."""
