"""The school staff console (``/staff``): district sign-in and the approval queue."""
