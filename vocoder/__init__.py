"""hifisynth's vocoder: mel frontend, HiFi-GAN generator and discriminators, training, inference."""

__version__ = "0.1.0"
