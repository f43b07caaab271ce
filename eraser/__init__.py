"""eraser: remove one visual feature from a pretrained generative model without its training data.

The method is Moon, Cho & Kim, "Feature Unlearning for Pre-trained GANs and VAEs" (AAAI 2024).
Heavy modules are imported on first use, so ``import eraser`` stays fast.
"""

__version__ = "0.1.0"
