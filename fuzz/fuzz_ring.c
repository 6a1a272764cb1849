/* libFuzzer target: the ring reader (and the writer's read-index checks)
 * against a header and data area chosen by the fuzzer.
 *
 * Input: [u32 write_index][u32 read_index][u32 pending_send_sz]
 *        [u32 interrupt_mask][u8 header mode][data area bytes ...]
 * header mode bit 0: take magic/version/size from the next 12 bytes too. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmbus/vmbus_ring.h"

#define SIZE 4096u

static void nop_signal(void *arg)
{
	(*(int *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static uint8_t mem[VMBUS_RING_HDR_SIZE + SIZE] __attribute__((aligned(4096)));
	static uint8_t buf[2 * SIZE];
	struct vmbus_ring_hdr *h = (struct vmbus_ring_hdr *)mem;
	struct vmbus_ring cons, prod;
	struct vmbus_rx rx[16];
	int signals = 0;

	if (len < 17)
		return 0;
	memset(mem, 0, sizeof(mem));
	vmbus_ring_format(mem, SIZE);
	memcpy(&h->write_index, in, 4);
	memcpy(&h->read_index, in + 4, 4);
	memcpy(&h->pending_send_sz, in + 8, 4);
	memcpy(&h->interrupt_mask, in + 12, 4);
	in += 16, len -= 16;
	if ((*in++ & 1) && len >= 13) {
		memcpy(&h->magic, in, 4);
		memcpy(&h->version, in + 4, 4);
		memcpy(&h->size, in + 8, 4);
		in += 12, len -= 12;
	}
	len--;
	memcpy(mem + VMBUS_RING_HDR_SIZE, in, len < SIZE ? len : SIZE);

	if (vmbus_ring_attach(&cons, mem, SIZE, VMBUS_RING_CONSUMER, nop_signal, &signals) == 0) {
		for (int i = 0; i < 64; i++) {
			int n = vmbus_ring_read(&cons, rx, 16, buf,
			                        (size_t)(i & 1 ? 200 : sizeof(buf)));

			if (n < 0 && n != -ENOBUFS)
				break;
			for (int k = 0; k < n; k++) /* every byte handed out must be readable */
				if (rx[k].len && rx[k].data[rx[k].len - 1] == 0x42 &&
				    rx[k].ext_len && rx[k].ext[0] == 0x42)
					signals++;
			if (n == 0)
				break;
		}
		vmbus_ring_arm(&cons);
	}
	/* The writer against a scribbled read index. */
	if (vmbus_ring_attach(&prod, mem, SIZE, VMBUS_RING_PRODUCER, nop_signal, &signals) == 0) {
		struct iovec iov = { buf, 100 };
		struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };

		for (int i = 0; i < 64 && vmbus_ring_write(&prod, &tx, 1) == 1; i++)
			;
		vmbus_ring_wait_room(&prod, 1000);
	}
	return 0;
}
