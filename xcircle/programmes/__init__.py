"""Programmes: many circles formed from a pool of participants across organizations.

A programme lives on the coordinator's device only (`store`), is filled from a CSV
(`csvimport`) and formed into staged circles under hard rules with soft, weighted goals
(`forming`). Publishing the staged circles is `sync.programmes`'s business.
"""
