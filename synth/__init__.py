"""hifisynth's synthesis pipelines: audio, mel files, text and SSL features into the vocoder."""

__version__ = "0.1.0"
