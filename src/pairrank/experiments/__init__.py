"""Experiments on split directories: train and recommend, benchmark several models, tune one."""
