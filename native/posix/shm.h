// POSIX shared-memory objects: shm_open/shm_unlink, sizing with the pages
// reserved up front, and MAP_SHARED mappings.
#pragma once

#include <semaphore.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "status.h"

namespace posix {

// shm_open(O_CREAT | O_EXCL | O_RDWR) then fchmod(mode), so the mode is exact
// whatever the umask. The object has size 0: size it with ShmReserve. On
// failure nothing is left behind (the name is unlinked, the fd closed).
Status ShmCreateExclusive(const char* name, unsigned mode, int* fd);

// shm_open(O_RDWR) of an existing object; *size comes from fstat.
Status ShmOpenExisting(const char* name, int* fd, uint64_t* size);

Status ShmUnlink(const char* name);

// Sets the object's size. Growing reserves the pages, so that a lack of
// memory is ENOSPC now rather than SIGBUS at the first touch of a page later;
// shrinking (ftruncate) frees the pages past the new size.
//   Linux: an fstatvfs check refuses at once a size the filesystem has no
//     room for (rather than letting tmpfs fill itself, then give it all back),
//     then posix_fallocate, which on tmpfs publishes the new size only once
//     every page is reserved, so a peer never sees a size it cannot touch.
//     A filesystem without fallocate (EOPNOTSUPP/EINVAL): ftruncate only.
//   Elsewhere: ftruncate (macOS allows it once per object: EINVAL after).
Status ShmSetSize(int fd, uint64_t new_size);

// The up-front part of ShmSetSize on Linux: ENOSPC (reported for
// posix_fallocate, the call it stands in for) when growing to `new_size`
// cannot fit in the filesystem's free space. Always Ok elsewhere.
Status ShmCheckRoom(int fd, uint64_t new_size);

// fstat's size of the object behind fd.
Status ShmSize(int fd, uint64_t* size);

// mmap(MAP_SHARED, PROT_READ | PROT_WRITE) of the first `size` bytes.
Status MapShared(int fd, size_t size, void** addr);
Status Unmap(void* addr, size_t size);

// Unnamed semaphores placed inside a segment (sem_init with pshared = 1).
// macOS has none: ENOSYS (kUnnamedSemaphores is false there).
#if defined(__APPLE__)
constexpr bool kUnnamedSemaphores = false;
#else
constexpr bool kUnnamedSemaphores = true;
#endif
Status SemInitShared(sem_t* sem, unsigned value);
Status SemDestroy(sem_t* sem);

}  // namespace posix
