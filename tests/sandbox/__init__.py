"""Tests of the sandbox LMS (lms_plugin.sandbox) over real HTTP, with a simulated tool."""
