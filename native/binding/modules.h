// One Init function per binding file; addon.cc calls them all.
#pragma once

#include <napi.h>

namespace binding {

void InitWaiter(Napi::Env env, Napi::Object exports);
void InitFd(Napi::Env env, Napi::Object exports);
void InitPoller(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitTcp(Napi::Env env, Napi::Object exports);
void InitProcess(Napi::Env env, Napi::Object exports);
void InitSemaphore(Napi::Env env, Napi::Object exports);
void InitShm(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitUnnamedSemaphore(Napi::Env env, Napi::Object exports);
void InitTeardown(Napi::Env env, Napi::Object exports);

}  // namespace binding
