// GET /metrics of a running service, parsed strictly (prometheus_text.hpp): a bad exposition or
// status fails the calling test.
#pragma once

#include "support/prometheus_text.hpp"
#include "support/service_process.hpp"

#include <gtest/gtest.h>

namespace coredb::testing {

inline PromParse Scrape(ServiceProcess& svc) {
  auto r = svc.Get("/metrics");
  EXPECT_EQ(r.status, 200u) << r.body;
  auto p = ParsePrometheusText(r.body);
  EXPECT_TRUE(p.problems.empty()) << (p.problems.empty() ? "" : p.problems[0]);
  return p;
}

}  // namespace coredb::testing
