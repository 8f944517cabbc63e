"""Offline analytics on traces. Never imports ``agentledger.capture``."""
