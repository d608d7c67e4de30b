"""Synthetic state feeds: MSDS collections, postsecondary enrollment and awards.

Deterministic for a seed, vectorised with NumPy and written with pyarrow one
school year / term at a time, so state scale (~1M K-12 students a year) runs in
bounded memory. No real student data exists anywhere in this product.
"""
