/* Telling a service manager (systemd's Type=notify) that the mount is up, without libsystemd:
 * the protocol is one datagram of "KEY=value" lines to the unix socket named by $NOTIFY_SOCKET
 * (sd_notify(3), "a stable interface"). Two messages and no other use of systemd do not justify
 * a library dependency on every machine, also those that run no systemd. */
#ifndef TROLLEY_NOTIFY_H
#define TROLLEY_NOTIFY_H

#ifdef __cplusplus
extern "C" {
#endif

/** Send @state (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET, a socket path or an
 * abstract name starting with '@'. @return 1 if sent, 0 when $NOTIFY_SOCKET is not set (no
 * service manager waits), -errno if it could not be sent. */
int notify_send(const char *state);

#ifdef __cplusplus
}
#endif

#endif
