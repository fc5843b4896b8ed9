"""Live broadcasts: ingest (browser WebSocket, SRT encoder), live HLS, live captions,
questions, and the hand-over of the recording to the normal pipeline.

- ffargs: pure ffmpeg argument builders for the live paths.
- playlist: reading ffmpeg's playlists and building the viewers' live playlist.
- broadcasts: the broadcast and question rows (domain, no HTTP).
- manager: the running side (ffmpeg processes, grace period, viewers, events).
- captions: Whisper on the live audio in short windows.
"""
