"""Axiomatic: does a map keep a property its method promises? (its sum equals the score's change; it does not
move when a constant shift of the input is absorbed by the first layer)"""
