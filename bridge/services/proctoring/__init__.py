"""The proctor console: a room's sitting through a session (board, incidents, resume, records, mock acts, upload) and the authorization codes it asks for."""
