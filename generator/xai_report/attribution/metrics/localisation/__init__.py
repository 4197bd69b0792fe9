"""Localisation: does a map's mass lie on the object (the study's object boxes)?"""
