/* libFuzzer target: the channel handshake, server side, over a real socket
 * pair: the fuzzer's bytes are the client's messages.
 *
 * Input: a sequence of [u8 length][length bytes] messages (at most 4); a
 * message of length 255 is stretched to sizeof(struct vmbus_hs_msg) with
 * the remaining bytes, so whole messages are easy to reach. */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/util.h"
#include "vmbus/vmbus_chan.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct vmbus_server_opts o = { .timeout_ms = 1, .max_ring_size = 1u << 16 };
	struct vmbus_hs_msg m;
	struct vmbus_chan *ch;
	char err[256];
	int sv[2];

	util_log_level = -1;
	/* The decoder alone, on the raw input. */
	vmbus_hs_decode(in, len, &m, err, sizeof(err));

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return 0;
	for (int i = 0; i < 4 && len > 0; i++) {
		size_t n = in[0];

		in++, len--;
		if (n == 255)
			n = sizeof(struct vmbus_hs_msg);
		if (n > len)
			n = len;
		if (send(sv[1], in, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			break;
		in += n, len -= n;
	}
	shutdown(sv[1], SHUT_WR); /* the server sees EOF after the queued messages */
	ch = vmbus_chan_serve(sv[0], &o, err, sizeof(err));
	vmbus_chan_close(ch);
	close(sv[1]);
	return 0;
}
