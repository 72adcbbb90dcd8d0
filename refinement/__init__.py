"""Refinement: filters, annotation and the critic that turn candidates into knowledge."""
