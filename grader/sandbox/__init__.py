"""Running a student's code walled in: run.py (the parent's side: private copies, the watchdog,
answers and output), child.py (what runs inside, answering the grader; worker.py runs the
student's code apart from it, and replay.py records the student's network there and replays
it in the child), zygote.py and forkserver.py (the fork server), isolation.py (namespaces,
bubblewrap, cgroups).

This package's own import is light (the standard library only, until run.py is imported), so
the `grade` command can start the fork server before the grader's heavier modules load.
"""
