"""Pure rules of the linking service: links and their state machine, roster bundles,
student matching, activation codes and legacy password hashes. No I/O imports."""
