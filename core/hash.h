/* FNV-1a, the one hash of trolley: inode numbers, hash tables of UIDs, the cache folder's name
 * and the store's long keys. UIDs differ in their last digits, which it mixes into every bit;
 * nothing here needs a hash an adversary cannot steer (the tables are small and bounded). */
#ifndef TROLLEY_HASH_H
#define TROLLEY_HASH_H

#include <stddef.h>
#include <stdint.h>

/** The 64-bit offset basis: the hash of nothing. */
#define HASH_FNV64_INIT 0xcbf29ce484222325ull
/** The 32-bit offset basis. */
#define HASH_FNV32_INIT 2166136261u

/** Hash on from @h over @len bytes at @data. */
static inline uint64_t hash_fnv64(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/** Hash on from @h over the bytes of string @s (not its NUL). */
static inline uint64_t hash_fnv64_str(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/** 32-bit FNV-1a on from @h over the bytes of string @s (not its NUL). */
static inline uint32_t hash_fnv32_str(uint32_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

#endif
