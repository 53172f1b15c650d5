"""Private pieces of the ``tether`` command line (the commands live in ``tether.cli``).

``_load`` finds the agent a reference names; ``_format`` holds pure formatters;
``_next`` builds the "to continue: ..." commands; ``_render`` prints events live or
as a timeline; ``_session`` holds what every command shares, including ``follow``.
"""
