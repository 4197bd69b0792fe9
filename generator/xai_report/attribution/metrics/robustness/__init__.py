"""Robustness: does the explanation stay put when the input or the method's seed changes a little?"""
