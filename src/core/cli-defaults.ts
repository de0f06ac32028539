/** Defaults the command-line clients share (silence, deploy): where a daemon listens when nothing says otherwise. */

export const DEFAULT_DAEMON_URL = 'http://127.0.0.1:8080';
