#pragma once

#include "gates/gates.hpp"
#include "model/mlmodel.hpp"

#include <optional>

namespace mlops::gates {

/// Ends a gate: failed with the first problem as reason and all as details
/// when there are problems, else passed with the notes joined by `sep`.
void conclude(GateResult& g, std::vector<std::string> problems, std::vector<std::string> notes,
              const std::string& sep = "; ");

/// Reads and parses a JSON file of the model (an input example) named by `rel`, bounded by
/// limits::k_max_input_example_bytes and k_max_json_depth; nullopt with the reason (naming the
/// file) added to `problems` when it cannot.
std::optional<nlohmann::json> read_example(const Target& t, const std::string& rel, std::vector<std::string>& problems);

/// Flavor, signature and input examples against the signature.
GateResult interface_gate(const Target& t, const Policy& p, const model::MlModel& m);

/// Environment files, pinned requirements, Python version, forbidden and
/// required packages.
GateResult environment_gate(const Target& t, const Policy& p, const model::MlModel& m);

/// Thresholds on the version's metrics and comparisons with other versions.
GateResult metrics_gate(const Target& t, const Policy& p, const std::optional<model::MlModel>& m,
                        mlflow::Client* client);

/// Serves the model with MLServer (`mlserver` executable) on free
/// 127.0.0.1 ports, sends the input example to /v2/models/NAME/infer and
/// checks the answer against the output signature; stops the server.
GateResult serve_gate(const Target& t, const model::MlModel& m, const std::string& mlserver, LogSink& log);

} // namespace mlops::gates
