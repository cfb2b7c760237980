"""Decide: policies as code turning health reports into proposed actions."""
