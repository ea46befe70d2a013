"""Running pairs through a model padding-free: packed rows, prefix sharing,
variable-length attention, rewards read at the right token."""
