"""Randomisation: does the explanation change when the model's learned weights are replaced by random ones?"""
