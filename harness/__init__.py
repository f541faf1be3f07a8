"""A reproducibility harness for deep-learning claims.

Light on purpose: importing ``harness`` must not import torch, mlflow or
scikit-learn, so that ``harness --help`` and ``harness list`` answer at once.
"""
__version__ = "0.1.0"
