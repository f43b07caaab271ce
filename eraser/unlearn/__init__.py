"""Unlearning a feature by fine-tuning.

``settings`` (EraseSettings, no torch), ``objective`` (the latent-shift loss), ``loop`` (finetune).
"""
