"""Exam sites and what the site admin runs there: sites, rooms, seats, proctor stations, environment checks, exam data, sealing checks, exam authorization, site backup."""
