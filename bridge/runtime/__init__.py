"""What runs the bridge as a process: the WSGI entry, the gevent server and its runner, the group writer, the scorer, periodic jobs and GC pauses."""
