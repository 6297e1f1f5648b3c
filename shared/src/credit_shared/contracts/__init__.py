"""Message contracts: the public loan topics, the envelope of internal messages, and the service schemas."""
