#include "cli/command.hpp"
#include "cli/image_signing.hpp"
#include "cli/model_source.hpp"
#include "cli/registry_client.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/strings.hpp"
#include "oci/package.hpp"
#include "oci/push.hpp"
#include "oci/registry.hpp"

#include <cstdlib>
#include <stdlib.h>

namespace mlops::cli {

namespace {

struct PackageArgs {
  std::string source;
  std::string base;
  std::string output;
  std::string push;
  std::string sign_key; ///< --sign: the pushed image is signed and its provenance attested
  std::string format = "image";
  std::string compression = "auto";
  std::vector<std::string> tags;
  std::string model_path = "/mnt/models";
  std::string chunk_size = "64M";
  std::string templates;
  int jobs = 4;
  // Which flags were given (they beat the package: section of mlops.yaml).
  CLI::Option* format_flag = nullptr;
  CLI::Option* compression_flag = nullptr;
  CLI::Option* model_path_flag = nullptr;
};

/// "64M", "512K", "1G" or bytes; "0" = monolithic uploads.
std::uint64_t parse_size(const std::string& text) {
  std::size_t used = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = lower_ascii(text.substr(used));
  std::uint64_t mult = unit.empty() || unit == "b"    ? 1
                       : unit == "k" || unit == "kib" ? 1024
                       : unit == "m" || unit == "mib" ? 1u << 20
                       : unit == "g" || unit == "gib" ? 1u << 30
                                                      : 0;
  if (used == 0 || mult == 0 || n > (std::uint64_t(1) << 40) / mult)
    throw Error(ErrorKind::usage, "invalid size " + quote(text),
                "use bytes or a number with K, M or G (KiB, MiB, GiB), at most 1T");
  return n * mult;
}

/// The registries one `mlops package` talks to: the push target and a
/// registry base, sharing one HTTP client (connections, retries, TLS).
struct Registries {
  http::Client client;
  std::optional<oci::Registry> target;
  std::optional<oci::Registry> base;

  Registries(Context& ctx, const PackageArgs& a) : client(ctx.registry_http_options(), ctx.log()) {
    // Credentials are looked up once per registry: a credential helper is a
    // process to run, and the base often lives on the push target.
    std::map<std::string, std::optional<oci::RegistryCredentials>> found;
    auto open = [&](std::optional<oci::Registry>& slot, const std::string& text, const char* actions) {
      oci::ImageRef ref = oci::parse_image_ref(text);
      bool plain = oci::is_loopback_registry(ref.registry) || ctx.global().insecure;
      auto it = found.find(ref.registry);
      if (it == found.end())
        it = found.emplace(ref.registry, oci::find_credentials(ref.registry, process_getenv)).first;
      slot.emplace(client, ref, it->second, plain, ctx.log(), actions);
    };
    if (!a.push.empty()) {
      open(target, a.push, "pull,push");
      target->upload_options().chunk_size = parse_size(a.chunk_size);
      target->upload_options().session_dir = cache_dir("uploads"); // a rerun continues a cut-off upload
    }
    if (!a.base.empty() && a.base.rfind("oci:", 0) != 0) open(base, a.base, "pull");
  }
  /// A push to the registry that holds the base: its layers are mounted there.
  bool same_registry() const { return target && base && target->ref().registry == base->ref().registry; }
};

/// Pushes the packaged image to the push target, as JSON for --json and the text output.
nlohmann::ordered_json push(Registries& regs, const oci::PackageResult& r, const std::string& output,
                            const std::string& target, int jobs, std::map<std::string, oci::BlobOutcome> done) {
  oci::PackagePushSources sources;
  sources.base = regs.base ? &*regs.base : nullptr;
  sources.same_registry = regs.same_registry();
  sources.jobs = jobs;
  sources.done = std::move(done);
  oci::PackagePushResult pr = oci::push_package(*regs.target, r, output, target, std::move(sources));
  const oci::PushStats& st = pr.stats;
  return {{"reference", pr.reference.str()},     {"uploaded_bytes", st.uploaded},
          {"skipped_bytes", st.skipped},         {"mounted_bytes", st.mounted},
          {"blobs_uploaded", st.blobs_uploaded}, {"blobs_skipped", st.blobs_skipped},
          {"blobs_mounted", st.blobs_mounted}};
}

int run_package(Context& ctx, PackageArgs a) {
  if (a.output.empty() && a.push.empty()) {
    throw Error(ErrorKind::usage, "missing --output or --push",
                "mlops package MODEL --output oci:PATH[:TAG] or --push HOST/REPO:TAG");
  }
  if (!a.sign_key.empty() && a.push.empty())
    throw Error(ErrorKind::usage, "--sign needs --push", "signatures are stored in the registry beside the image");
  // package: in mlops.yaml; a flag given on the command line wins.
  oci::PackageConfig pc;
  if (const auto& project = ctx.settings().project_file) pc = oci::load_package_config(*project);
  std::string format = a.format_flag->count() ? a.format : pc.format.value_or(a.format);
  if (a.base.empty() && pc.base && format != "artifact") a.base = *pc.base; // an artifact has no base
  Registries regs(ctx, a); // bad references and sizes fail before any work
  std::optional<sign::PrivateKey> key;
  if (!a.sign_key.empty()) key = load_signing_key(a.sign_key); // a bad key or passphrase fails before any work
  std::optional<fs::TempDir> scratch;                          // a layout that only feeds a push
  std::string output = a.output;
  if (!a.push.empty() && output.rfind("docker-archive:", 0) == 0) {
    throw Error(ErrorKind::usage, "--push goes with an oci: output or none");
  }
  if (output.empty()) {
    scratch.emplace("push");
    output = "oci:" + (scratch->path() / "layout").string() + ":push";
  }
  if (pc.format && !a.format_flag->count()) a.format = *pc.format;
  if (pc.compression && !a.compression_flag->count()) a.compression = *pc.compression;
  oci::PackageOptions o;
  o.format = oci::parse_format(a.format);
  o.compression = oci::parse_compression(a.compression);
  if (!a.output.empty() && a.output.rfind("oci:", 0) != 0 && a.output.rfind("docker-archive:", 0) != 0) {
    throw Error(ErrorKind::usage, "unsupported output " + quote(a.output),
                "use oci:PATH[:TAG] or docker-archive:FILE[:REPO:TAG]");
  }
  o.output = output;
  o.base = a.base;
  o.base_registry = regs.base ? &*regs.base : nullptr;
  // Base layers stay in the registry when nothing local needs them.
  o.fetch_base_layers = !(a.output.empty() && regs.same_registry());
  oci::LayerDigestCache cache(cache_dir("layers"));
  std::map<std::string, oci::BlobOutcome> streamed;
  if (regs.target) o.stream_layer = oci::push_stream_factory(*regs.target, cache, streamed, !a.output.empty());
  o.tags = a.tags;
  o.model_path = a.model_path;
  if (pc.model_path && !a.model_path_flag->count()) o.model_path = *pc.model_path;
  if (pc.implementation) o.implementation = *pc.implementation;
  o.env = pc.env;
  o.entrypoint = pc.entrypoint;
  o.cmd = pc.cmd;
  o.labels = pc.labels;
  o.templates = templates_dir(a.templates);
  o.source_date_epoch = source_date_epoch();
  o.tool = std::string("mlops ") + MLOPS_VERSION;
  oci::PackageResult r;
  try {
    ModelSource src = open_model_source(ctx, a.source);
    o.source = src.dir;
    r = oci::package(o, ctx.log());
  } catch (const Error& e) {
    throw e.with_context("cannot package " + quote(a.source));
  }
  nlohmann::ordered_json pushed = nullptr;
  if (!a.push.empty()) {
    pushed = push(regs, r, output, a.push, a.jobs, streamed);
    for (const auto& l : r.layers)
      cache.put(l.key, l.digest);
    if (key) {
      try {
        sign::SignResult sr = sign_pushed(ctx, *regs.target, r.manifest.digest, *key, true);
        pushed["signed"] = {{"signer", sr.signer.key_fingerprint},
                            {"signature_tag", sr.signature_tag},
                            {"attestation_tag", sr.attestation_tag}};
      } catch (const Error& e) {
        throw e.with_context("cannot sign " + quote(pushed["reference"].get<std::string>()));
      }
    }
  }
  if (scratch) r.references.clear();
  if (ctx.json()) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : r.layers) {
      layers.push_back(
          {{"digest", l.digest},
           {"diff_id", l.diff_id.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(l.diff_id)},
           {"media_type", l.media_type},
           {"size", l.size},
           {"from_base", l.from_base}});
    }
    ctx.out().json({{"format", a.format},
                    {"digest", r.manifest.digest},
                    {"manifest_size", r.manifest.size},
                    {"config_digest", r.config_digest},
                    {"references", r.references},
                    {"layers", layers},
                    {"pushed", pushed}});
    return 0;
  }
  std::uint64_t added = 0;
  for (const auto& l : r.layers)
    if (!l.from_base) added += l.size;
  for (const auto& ref : r.references)
    ctx.out().line(ref + "@" + r.manifest.digest);
  if (!pushed.is_null()) ctx.out().line(pushed["reference"].get<std::string>());
  if (!pushed.is_null() && pushed.contains("signed"))
    ctx.out().line("signed with key " + pushed["signed"]["signer"].get<std::string>().substr(0, 23) + ": " +
                   pushed["signed"]["signature_tag"].get<std::string>() + ", provenance " +
                   pushed["signed"]["attestation_tag"].get<std::string>());
  ctx.log().debug(1, "model layers: " + human_bytes(added));
  return 0;
}

} // namespace

Command package_command() {
  Command c;
  c.name = "package";
  c.summary = "build a reproducible OCI image, KServe modelcar or model artifact";
  c.description =
      "Builds an OCI image from a model directory (or a models:/ URI, pulled first) without a container "
      "daemon, and writes it into an OCI image layout. --format modelcar puts the model files under /models "
      "on --base (KServe's oci:// storage: the base needs sh, ln and sleep); --format image puts them under "
      "--model-path (default /mnt/models) on --base and adds MLServer's model-settings.json beside them; "
      "--format artifact stores the files as layers of an OCI artifact (artifactType "
      "application/vnd.mlops.mlflow.model.v1, empty config) with no base.\n\n"
      "Layers are reproducible: entries sorted, uid/gid 0, no user names, modes 0644/0755, every time stamp "
      "SOURCE_DATE_EPOCH or else the model version's creation time from mlops.lock.json, gzip without name "
      "or time. The same files, base and options give the same digest. --compression auto stores data that "
      "does not compress (weights) and gzips what does. gzip runs on every CPU in fixed 1 MiB blocks (one "
      "ordinary gzip stream, the same bytes whatever the CPU count) and stores blocks that do not compress. "
      "--compression zstd writes application/vnd.oci.image.layer.v1.tar+zstd layers with libzstd on up to 4 "
      "CPUs: level 3 with every parameter pinned, 1 MiB jobs, a checksum and no content size, the same bytes "
      "whatever the CPU count (auto never picks zstd: not every runtime reads it). "
      "Tar, compression and both digests are computed in one pass; memory does not grow with model size. The manifest "
      "carries org.opencontainers.image.* and "
      "io.mlflow.model.* annotations (name, version, run id, model uuid, lock digest, base name and digest). "
      "A model directory whose files no longer match its lock file is refused (exit 3). Prints "
      "REF@sha256:... per output; --json adds layers, sizes and what a push uploaded, skipped or mounted "
      "(schemas/output.package.schema.json). docker-archive:FILE[:REPO:TAG] writes one tar "
      "that `docker load` and `podman load` read (manifest.json) and OCI tools read too (index.json, blobs/). "
      "--push HOST[:PORT]/REPO[:TAG] uploads the image to a registry (with or without --output): blobs the "
      "registry already has are skipped (HEAD), base layers are mounted from the base's repository when the "
      "base is on the same registry, the rest go up --jobs at a time, in resumable --chunk-size chunks "
      "(falling back to one PUT where a registry refuses chunks), then the manifest. --sign KEY then signs the pushed "
      "digest and attests its SLSA provenance exactly as 'mlops image sign' does (cosign's format). A layer of 32 MiB "
      "or more is "
      "streamed to the registry while it is built "
      "(without --output no layer file is written at all) unless the registry already has it. Basic or Bearer-token "
      "auth from the registry's challenge (tokens per scope, renewed when they expire), with credentials from "
      "REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json: credHelpers, credsStore "
      "(docker-credential-NAME get) or auths. --base HOST[:PORT]/REPO[:TAG|@DIGEST] reads the base from a "
      "registry (OCI or Docker schema 2; an index gives its linux image for this machine's architecture, "
      "else linux/amd64); its layers are downloaded, checked, only when an output needs them. HTTPS is tried first and "
      "verified (--ca-bundle FILE for a private CA); plain HTTP is used only for localhost/127.0.0.1 or with "
      "--insecure.\n\n"
      "The package: section of mlops.yaml (schemas/mlops.schema.json) sets defaults that flags override: "
      "format, compression, model_path, implementation (MLServer's runtime class, default "
      "mlserver_mlflow.MLflowRuntime), and the image config on top of the base's: env (added to the base's Env, "
      "replacing a variable of the same name), entrypoint and cmd (replacing the base's) and labels. "
      "model-settings.json is rendered from the template package/model-settings.json.mustache (every value a "
      "quoted JSON string; the result must parse as JSON); --templates DIR overrides it.";
  c.examples = "  mlops package ./iris-v3 --format modelcar --base oci:busybox:latest --output oci:out:iris-v3\n"
               "  mlops package models:/iris@champion --format artifact --output oci:store --json\n"
               "  SOURCE_DATE_EPOCH=0 mlops package ./iris-v3 --base oci:mlserver:1.7 --output oci:out";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<PackageArgs>();
    app.add_option("SOURCE", a->source, "a model directory or a models:/ URI")->required();
    app.add_option("--base", a->base,
                   "base image: oci:PATH[:TAG] or HOST[:PORT]/REPO[:TAG|@DIGEST] (not for --format artifact)")
        ->type_name("REF");
    app.add_option("--output", a->output, "where to write: oci:PATH[:TAG] or docker-archive:FILE[:REPO:TAG]")
        ->type_name("DEST");
    app.add_option(
           "--push", a->push,
           "push to a registry: HOST[:PORT]/REPO[:TAG] (HTTPS; plain HTTP only for localhost or with --insecure)")
        ->type_name("IMAGE_REF");
    a->format_flag = app.add_option("--format", a->format, "image, modelcar or artifact")
                         ->check(CLI::IsMember({"image", "modelcar", "artifact"}))
                         ->type_name("FORMAT");
    a->compression_flag = app.add_option("--compression", a->compression, "none, gzip, zstd or auto (default)")
                              ->check(CLI::IsMember({"none", "gzip", "zstd", "auto"}))
                              ->type_name("C");
    app.add_option("--tag", a->tags, "extra tag in the output layout (repeatable)")->type_name("T");
    a->model_path_flag =
        app.add_option("--model-path", a->model_path, "where --format image puts the model (default /mnt/models)")
            ->type_name("PATH");
    app.add_option("--templates", a->templates,
                   "directory of templates overriding the built-in ones (package/model-settings.json.mustache)")
        ->type_name("DIR");
    app.add_option("--sign", a->sign_key,
                   "with --push: sign the pushed image and attest its SLSA provenance with this private key "
                   "(see 'mlops image sign'; passphrase from MLOPS_SIGNING_PASSWORD)")
        ->type_name("KEY");
    app.add_option("--chunk-size", a->chunk_size,
                   "push blobs larger than this in resumable chunks of this size (default 64M; 0 = one PUT each)")
        ->type_name("SIZE");
    app.add_option("-j,--jobs", a->jobs, "blobs pushed at once (default 4)")->check(CLI::Range(1, 32))->type_name("N");
    return [a](Context& ctx) { return run_package(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
