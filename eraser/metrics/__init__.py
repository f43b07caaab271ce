"""Metrics: MS-SSIM, and (with the guards) FID/KID, precision/recall, LPIPS, feature rate."""
