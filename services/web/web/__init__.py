"""The guardian web portal: server-rendered pages, a client of identity's and linking's
HTTP APIs (owns no guardian data)."""
