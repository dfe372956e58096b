using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>
/// Prompt shutdown, a console that never hangs, fail-fast silos and bad input, against real silo and console
/// processes. Every allowance comes from the configuration under test (the silo's ShutdownSeconds, the console's
/// gateway probe), never from how fast this host is.
/// </summary>
public sealed class ReliabilityTests
{
    private const int ShutdownSeconds = 10;

    // Long enough that every stage is still running when the test acts on it, on any host; the test never waits
    // for the epochs: it stops, cancels or restarts in the middle of them.
    private static string[] LongExperiment(string id, string dataset, string selector = "pruned") =>
    [
        "experiment", "start", "--id", id, "--dataset", dataset, "--arch", "resnet20", "--selector", selector, "--initial", "1000",
        "--round-size", "1000", "--rounds", "2", "--selector-epochs", "200", "--final-epochs", "200", "--seed", "9",
    ];

    private static SiloProcess Embedded(string root) => new(root, [$"--PruneFuse:ShutdownSeconds={ShutdownSeconds}"]);

    /// <summary>A started embedded silo with a Fashion-MNIST dataset imported under <paramref
    /// name="dataset"/>.</summary>
    private static async Task<SiloProcess> SiloWithDatasetAsync(TempDir dir, string dataset, string shards, string limit)
    {
        var silo = Embedded(dir.Path);
        await silo.StartAsync();
        var import = await Processes.ClientAsync(silo.GatewayPort, "dataset", "import", "--id", dataset, "--shards", shards, "--limit", limit);
        if (import.ExitCode == 0) return silo;
        await silo.DisposeAsync();
        throw new InvalidOperationException($"import of '{dataset}' failed: {import.Stderr}");
    }

    [Fact]
    public async Task Sigterm_in_any_stage_exits_0_within_the_configured_allowance_and_the_interrupted_step_resumes()
    {
        using var dir = new TempDir("prunefuse-sigterm-");
        await using var silo = Embedded(dir.Path);
        await silo.StartAsync();
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, "dataset", "import", "--id", "st", "--shards", "2")).ExitCode);
        var start = await Processes.ClientAsync(silo.GatewayPort, LongExperiment("stop", "st"));
        Assert.True(start.ExitCode == 0, start.Stderr);

        // Selector training: stop mid-epoch, restart, and the same step runs again (state persisted before it).
        await StopDuringAsync(silo, "stop", "training selector", round: 1);
        // The status follows the training epoch by epoch (stage text and a typed progress object).
        var resumed = await WaitForStageAsync(silo.GatewayPort, "stop", "training selector: epoch ", TimeSpan.FromMinutes(2));
        Assert.Equal("running", resumed.GetProperty("state").GetString());
        var training = resumed.GetProperty("training");
        Assert.Equal("selector", training.GetProperty("network").GetString());
        Assert.Equal(200, training.GetProperty("epochs").GetInt32());
        Assert.InRange(training.GetProperty("epoch").GetInt32(), 1, 199);
        Assert.True(training.GetProperty("etaSeconds").GetDouble() > 0);
        Assert.Equal(1, resumed.GetProperty("currentRound").GetInt32());
        Assert.Equal(0, resumed.GetProperty("rounds").GetArrayLength());
        Assert.Contains("interrupted by silo shutdown", silo.Log);

        // Cancel stops the running step itself, not only the experiment's state.
        var cancel = await Processes.ClientAsync(silo.GatewayPort, "experiment", "cancel", "--id", "stop");
        Assert.True(cancel.ExitCode == 0, cancel.Stderr);
        Assert.Contains("cancelled 'stop' after 0 rounds of", cancel.Stdout);
        await WaitForLogAsync(silo, "step TrainSelector ended after cancellation", TimeSpan.FromSeconds(ShutdownSeconds));

        // Scoring and fusion: a dense selector scores slowly enough to be caught in the act; one epoch each keeps
        // the way to fusion short.
        var scoring = await Processes.ClientAsync(silo.GatewayPort,
            "experiment", "start", "--id", "stop2", "--dataset", "st", "--arch", "resnet20", "--selector", "dense", "--initial", "1000",
            "--round-size", "1000", "--rounds", "1", "--selector-epochs", "1", "--final-epochs", "200", "--seed", "9");
        Assert.True(scoring.ExitCode == 0, scoring.Stderr);
        await StopDuringAsync(silo, "stop2", "scoring pool", round: 1);
        var fusing = await WaitForStageAsync(silo.GatewayPort, "stop2", "training the full network", TimeSpan.FromMinutes(5));
        Assert.Equal(1, fusing.GetProperty("rounds").GetArrayLength());
        await StopDuringAsync(silo, "stop2", "training the full network", round: 2);
        var final = await WaitForStageAsync(silo.GatewayPort, "stop2", "training the full network", TimeSpan.FromMinutes(2));
        Assert.Equal("running", final.GetProperty("state").GetString());
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, "experiment", "cancel", "--id", "stop2")).ExitCode);
    }

    private static async Task StopDuringAsync(SiloProcess silo, string experiment, string stage, int round)
    {
        var seen = await WaitForStageAsync(silo.GatewayPort, experiment, stage, TimeSpan.FromMinutes(5));
        Assert.Equal(round, seen.GetProperty("currentRound").GetInt32());
        // Let the torch job get going (an epoch or a batch in), then stop the silo in the middle of it.
        await Task.Delay(1000);
        await silo.StopAsync(SiloProcess.StopAllowance(ShutdownSeconds));
        Assert.True(silo.UncleanStops == 0, $"SIGTERM during '{stage}' did not exit 0 within {ShutdownSeconds} s (took {silo.LastStopSeconds:0.0} s, exit {silo.LastExitCode}):\n{silo.Log}");
        Assert.True(silo.LastStopSeconds <= ShutdownSeconds, $"stop took {silo.LastStopSeconds:0.0} s");
        await silo.StartAsync();
    }

    private static async Task<JsonElement> WaitForStageAsync(int port, string experiment, string stage, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            var r = await Processes.ClientAsync(port, "experiment", "status", "--id", experiment, "--json");
            if (r.ExitCode <= 1 && r.Stdout.Length > 0)
            {
                var st = JsonDocument.Parse(r.LastLine).RootElement;
                if (st.TryGetProperty("stage", out var s) && s.GetString() is { } text)
                {
                    last = text;
                    if (text.StartsWith(stage, StringComparison.Ordinal)) return st;
                }
                if (st.TryGetProperty("state", out var state) && state.GetString() is not "running") Assert.Fail($"{experiment} ended {state} before '{stage}': {r.LastLine}");
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{experiment} did not reach '{stage}' within {timeout} (last stage '{last}')");
    }

    private static async Task WaitForLogAsync(SiloProcess silo, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!silo.Log.Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"the silo did not log '{text}' within {timeout}:\n{silo.Log}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Console_exits_promptly_when_its_silo_is_killed_mid_import_and_a_restart_cleans_up_and_imports_again()
    {
        using var dir = new TempDir("prunefuse-killimport-");
        await using var silo = Embedded(dir.Path);
        await silo.StartAsync();
        // Thousands of tiny shards, each written and flushed to disk: an import that is still running when killed.
        using var client = Processes.StartClient(silo.GatewayPort, "dataset", "import", "--id", "big", "--shards", "4096", "--json");
        var shards = Path.Combine(dir.Path, "artifacts", "datasets", "big", "shards");
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!(Directory.Exists(shards) && Directory.EnumerateFiles(shards).Any()))
        {
            Assert.False(client.HasExited, $"the import ended before it could be interrupted: {client.Stderr}");
            Assert.True(DateTime.UtcNow < deadline, "no shard was written within 2 minutes");
            await Task.Delay(20);
        }
        await silo.KillAsync();
        // The console probes its gateway every 2 s and gives up after two misses.
        var (result, seconds) = await client.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error", result.Stdout + result.Stderr); // one line: lost connection, or Orleans' own word for it
        Assert.True(seconds < 15, $"the console took {seconds:0.0} s to notice the dead silo");
        Assert.False(File.Exists(Path.Combine(dir.Path, "artifacts", "datasets", "big", "manifest.json")));

        // Restart: no temporary files survive, and a different import of the same id replaces the orphan shards.
        await silo.StartAsync();
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(dir.Path, "artifacts"), "*.partial", SearchOption.AllDirectories));
        var again = await Processes.ClientAsync(silo.GatewayPort, "dataset", "import", "--id", "big", "--shards", "2", "--limit", "500", "--json");
        Assert.True(again.ExitCode == 0, again.Stderr + again.Stdout);
        Assert.Equal(["shard-0000.pfs", "shard-0001.pfs"], Directory.EnumerateFiles(shards).Select(f => Path.GetFileName(f)).Order().ToArray());
    }

    [Fact]
    public async Task Sigterm_during_an_import_exits_0_in_time_and_leaves_no_partial_dataset_and_a_left_import_completes()
    {
        using var dir = new TempDir("prunefuse-stopimport-");
        await using var silo = Embedded(dir.Path);
        await silo.StartAsync();
        var shards = Path.Combine(dir.Path, "artifacts", "datasets", "half", "shards");
        using (var client = Processes.StartClient(silo.GatewayPort, "dataset", "import", "--id", "half", "--shards", "4096"))
        {
            await WaitForFileAsync(shards, client);
            await silo.StopAsync(SiloProcess.StopAllowance(ShutdownSeconds));
            Assert.True(silo.UncleanStops == 0, $"SIGTERM during an import took {silo.LastStopSeconds:0.0} s (exit {silo.LastExitCode}):\n{silo.Log}");
            Assert.Equal(1, (await client.WaitAsync(TimeSpan.FromSeconds(30))).Result.ExitCode);
        }
        Assert.False(Directory.Exists(shards) && Directory.EnumerateFiles(shards).Any(), "the interrupted import left shards behind");

        // A console that leaves (killed) does not take the import with it: the silo finishes it, and the same
        // command run again waits for it and reports the dataset.
        await silo.StartAsync();
        using (var leaving = Processes.StartClient(silo.GatewayPort, "dataset", "import", "--id", "left", "--shards", "64"))
        {
            await WaitForFileAsync(Path.Combine(dir.Path, "artifacts", "datasets", "left", "shards"), leaving);
        }
        var again = await Processes.ClientAsync(silo.GatewayPort, "dataset", "import", "--id", "left", "--shards", "64", "--json");
        Assert.True(again.ExitCode == 0, again.Stderr + again.Stdout);
        Assert.Equal(60000, JsonDocument.Parse(again.LastLine).RootElement.GetProperty("poolSize").GetInt32());
    }

    private static async Task WaitForFileAsync(string folder, Processes.Running client)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!(Directory.Exists(folder) && Directory.EnumerateFiles(folder).Any()))
        {
            Assert.False(client.HasExited, $"the import ended before the test could act on it: {client.Stderr}");
            Assert.True(DateTime.UtcNow < deadline, $"nothing was written to {folder} within 2 minutes");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Health_ready_answers_only_once_the_silo_serves_clients()
    {
        using var dir = new TempDir("prunefuse-ready-");
        var (http, gateway) = (Ports.Free(), Ports.Free());
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { BuildOutput.SiloDll, $"--PruneFuse:DataRoot={dir.Path}", $"--PruneFuse:GatewayPort={gateway}", $"--PruneFuse:SiloPort={Ports.Free()}", $"--Urls=http://127.0.0.1:{http}" })
        {
            psi.ArgumentList.Add(a);
        }
        using var silo = Process.Start(psi)!;
        silo.OutputDataReceived += (_, _) => { };
        silo.ErrorDataReceived += (_, _) => { };
        silo.BeginOutputReadLine();
        silo.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (true)
            {
                Assert.True(DateTime.UtcNow < deadline, "the silo was not ready within 90 s");
                Assert.False(silo.HasExited, "the silo exited");
                try
                {
                    var r = await client.GetAsync($"http://127.0.0.1:{http}/health/ready");
                    if (r.IsSuccessStatusCode) break;
                }
                catch (HttpRequestException)
                {
                }
                await Task.Delay(20);
            }
            // The moment ready says yes, a console can connect.
            using var probe = new TcpClient();
            await probe.ConnectAsync("127.0.0.1", gateway);
            var status = await Processes.ClientAsync(gateway, "dataset", "list", "--json");
            Assert.True(status.ExitCode == 0, status.Stderr);
        }
        finally
        {
            silo.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Ctrl_c_stops_a_watching_console_with_exit_130_and_leaves_the_experiment_running()
    {
        using var dir = new TempDir("prunefuse-ctrlc-");
        await using var silo = await SiloWithDatasetAsync(dir, "cc", "2", "5000");
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, LongExperiment("watched", "cc"))).ExitCode);
        using var watch = Processes.StartClient(silo.GatewayPort, "experiment", "status", "--id", "watched", "--watch");
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!watch.Stderr.Contains("training selector", StringComparison.Ordinal))
        {
            Assert.False(watch.HasExited, watch.Stderr);
            Assert.True(DateTime.UtcNow < deadline, "the watch printed no progress: " + watch.Stderr);
            await Task.Delay(50);
        }
        Assert.Equal(0, SiloProcess.SendSignal(watch.Pid, 2)); // SIGINT, as Ctrl+C
        var (result, seconds) = await watch.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(130, result.ExitCode);
        Assert.True(seconds < 10, $"Ctrl+C took {seconds:0.0} s");
        var status = await Processes.ClientAsync(silo.GatewayPort, "experiment", "status", "--id", "watched", "--json");
        Assert.Equal("running", JsonDocument.Parse(status.LastLine).RootElement.GetProperty("state").GetString());
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, "experiment", "cancel", "--id", "watched")).ExitCode);
    }

    [Fact]
    public async Task Cluster_silo_with_unreachable_storage_exits_1_within_a_minute_naming_the_endpoint_but_never_the_key()
    {
        using var dir = new TempDir("prunefuse-nostorage-");
        var port = Ports.Free();
        var env = new Dictionary<string, string>
        {
            ["PruneFuse__Storage__ConnectionString"] =
                $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AzuriteProcess.AccountKey};" +
                $"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{port + 1}/devstoreaccount1;",
            ["PruneFuse__Http__Password"] = "pw-unreachable",
        };
        foreach (var (k, v) in TestCertificates.Shared.SiloEnvironment()) env[k] = v;
        var clock = Stopwatch.StartNew();
        var r = await Processes.SiloUntilExitAsync(env, "--PruneFuse:Mode=Cluster", $"--PruneFuse:DataRoot={dir.Path}",
            $"--PruneFuse:GatewayPort={Ports.Free()}", $"--PruneFuse:SiloPort={Ports.Free()}", $"--Urls=http://127.0.0.1:{Ports.Free()}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"cannot reach Azure Table storage at http://127.0.0.1:{port + 1}/devstoreaccount1", r.Stderr);
        Assert.Contains($"cannot reach Azure Blob storage at http://127.0.0.1:{port}/devstoreaccount1", r.Stderr);
        Assert.DoesNotContain(AzuriteProcess.AccountKey, r.Stdout + r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr); // one line per endpoint, no stack trace
    }

    [Theory]
    [InlineData("--Kestrel:Endpoints:Http:Url=http://0.0.0.0:{0}", null)]
    [InlineData(null, "Kestrel__Endpoints__Web__Url")]
    [InlineData("--Urls=", "ASPNETCORE_HTTP_PORTS")]
    public async Task Embedded_silo_refuses_every_way_of_listening_beyond_loopback(string? argument, string? environment)
    {
        using var dir = new TempDir("prunefuse-kestrel-");
        var port = Ports.Free();
        var env = environment is null ? null : new Dictionary<string, string>
        {
            [environment] = environment.EndsWith("PORTS", StringComparison.Ordinal) ? port.ToString() : $"http://0.0.0.0:{port}",
        };
        string[] args = [$"--PruneFuse:DataRoot={dir.Path}", $"--PruneFuse:GatewayPort={Ports.Free()}", $"--PruneFuse:SiloPort={Ports.Free()}"];
        if (argument is not null) args = [.. args, string.Format(System.Globalization.CultureInfo.InvariantCulture, argument, port)];
        var r = await Processes.SiloUntilExitAsync(env, args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("embedded mode serves HTTP on 127.0.0.1 only", r.Stderr);
        using var probe = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => probe.ConnectAsync("127.0.0.1", port));
    }

    [Fact]
    public async Task A_silo_with_bad_scoring_settings_exits_2_naming_each_key()
    {
        using var dir = new TempDir("prunefuse-scoring-");
        var r = await Processes.SiloUntilExitAsync(null, $"--PruneFuse:DataRoot={dir.Path}", $"--PruneFuse:GatewayPort={Ports.Free()}",
            $"--PruneFuse:SiloPort={Ports.Free()}", $"--Urls=http://127.0.0.1:{Ports.Free()}", "--PruneFuse:Scoring:Engine=tensorrt", "--PruneFuse:Scoring:Threads=-1",
            "--PruneFuse:Compute:Slots=0", "--PruneFuse:Scoring:UnitSamples=1");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("PruneFuse:Scoring:Engine: must be onnx or torch", r.Stderr);
        Assert.Contains("PruneFuse:Scoring:Threads", r.Stderr);
        Assert.Contains("PruneFuse:Compute:Slots", r.Stderr);
        Assert.Contains("PruneFuse:Scoring:UnitSamples", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public async Task Console_refuses_bad_ids_and_limits_before_calling_any_silo()
    {
        var nobody = Ports.Free(); // nothing listens: the refusal must come before any connection
        var empty = await Processes.ClientAsync(nobody, "experiment", "status", "--id", "");
        Assert.Equal(1, empty.ExitCode);
        Assert.Contains("experiment id is empty", empty.Stderr);
        Assert.DoesNotContain("primaryKey", empty.Stderr);
        var upper = await Processes.ClientAsync(nobody, "dataset", "show", "--id", "Bad Id");
        Assert.Contains("dataset id 'Bad Id' must be", upper.Stderr);
        var limit = await Processes.ClientAsync(nobody, "dataset", "import", "--limit", "-5");
        Assert.Equal(1, limit.ExitCode);
        Assert.Contains("--limit must be 0 (all images) or a positive number of images, got -5", limit.Stderr);
        Assert.DoesNotContain("cannot reach", limit.Stderr);
    }

    [Fact]
    public async Task Specs_too_large_for_the_silo_or_too_narrow_to_learn_are_refused_at_start()
    {
        using var dir = new TempDir("prunefuse-admission-");
        await using var silo = await SiloWithDatasetAsync(dir, "adm", "1", "1000");
        string[] Small(string id) => ["experiment", "start", "--id", id, "--dataset", "adm", "--initial", "100", "--round-size", "100", "--rounds", "1"];
        var huge = await Processes.ClientAsync(silo.GatewayPort, [.. Small("huge"), "--arch", "resnet110", "--width-multiplier", "16"]);
        Assert.Equal(1, huge.ExitCode);
        Assert.Contains("resnet110 × 16 at batch size 128 needs about", huge.Stderr);
        Assert.Contains("over this silo's limit", huge.Stderr);
        var narrow = await Processes.ClientAsync(silo.GatewayPort, [.. Small("narrow"), "--width-multiplier", "0.01"]);
        Assert.Equal(1, narrow.ExitCode);
        Assert.Contains("gives channel widths 1, under 4 channels", narrow.Stderr);
        var pruned = await Processes.ClientAsync(silo.GatewayPort, [.. Small("pruned"), "--width-multiplier", "0.25", "--prune", "0.9"]);
        Assert.Contains("leaves the selector 1 channel(s) in a channel group", pruned.Stderr);
        foreach (var id in new[] { "huge", "narrow", "pruned" })
        {
            var unknown = await Processes.ClientAsync(silo.GatewayPort, "experiment", "status", "--id", id);
            Assert.Contains($"unknown experiment '{id}'", unknown.Stderr);
        }
        var forced = await Processes.ClientAsync(silo.GatewayPort, [.. Small("forced"), "--width-multiplier", "0.01", "--allow-narrow", "--selector-epochs", "1", "--final-epochs", "1"]);
        Assert.True(forced.ExitCode == 0, forced.Stderr);
        await Processes.ClientAsync(silo.GatewayPort, "experiment", "cancel", "--id", "forced"); // may have finished already
    }
}
