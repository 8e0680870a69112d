"""opsverify: executable evidence that a deployment's nightly job ran and its monitoring works."""

__version__ = "0.1.0"
