"""Faithfulness: does a map point at what the model uses? (removing the pixels it ranks first changes the score)"""
