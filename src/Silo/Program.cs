using Orleans.Dashboard;
using Microsoft.Extensions.Options;
using PruneFuse.Silo;
using PruneFuse.Grains.Interfaces.Security;
using PruneFuse.Silo.Monitoring;
using PruneFuse.Silo.Security;

if (Usage.Requested(args))
{
    Console.WriteLine(Usage.Text);
    return 0;
}
// appsettings.json ships next to the binary; the silo may be started from any folder.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
SiloOptions options;
try
{
    options = builder.Configuration.GetSection("PruneFuse").Get<SiloOptions>() ?? new SiloOptions();
}
catch (InvalidOperationException e)
{
    // A value that does not convert (Mode=Clusterr, GatewayPort=abc) names the key in the binder's message.
    Console.Error.WriteLine($"prunefuse-silo: invalid configuration: {Usage.ConversionError(e)}");
    return 2;
}
// Orleans is configured from these options before the host starts, so validate them here and fail fast.
var problems = options.Problems();
// Embedded mode has no authentication by default, so it must not be reachable from other machines, however the
// endpoints were set (Urls, Kestrel:Endpoints, HTTP_PORTS; command line, environment or appsettings).
if (options.Mode == SiloMode.Embedded)
{
    foreach (var endpoint in StartupChecks.NonLoopbackEndpoints(builder.Configuration))
    {
        problems.Add($"{endpoint}: embedded mode serves HTTP on 127.0.0.1 only (run in cluster mode, with PruneFuse:Http:Password, to serve other machines)");
    }
}
if (options.Mode == SiloMode.Cluster && options.Security.Enabled)
{
    foreach (var endpoint in StartupChecks.PlaintextEndpoints(builder.Configuration))
    {
        problems.Add($"{endpoint}: with TLS on (PruneFuse:Security), the web host serves other machines over HTTPS "
            + $"only, so credentials never cross the network in the clear: use an https:// URL");
    }
}
if (problems.Count > 0)
{
    foreach (var p in problems) Console.Error.WriteLine($"prunefuse-silo: invalid configuration: {p}");
    return 2;
}
SiloSecurity? security;
try
{
    // A silo whose certificate is missing, expired or not from the cluster's CA would never join: say why now.
    security = SiloSecurity.For(options);
}
catch (CertificateException e)
{
    Console.Error.WriteLine($"prunefuse-silo: {e.Message}");
    return 2;
}
var busy = StartupChecks.PortsInUse(options, builder.Configuration);
if (busy.Count > 0)
{
    foreach (var p in busy) Console.Error.WriteLine($"prunefuse-silo: {p}");
    return 2;
}
var startupTimeout = TimeSpan.FromSeconds(options.StartupSeconds);
if (options.Mode == SiloMode.Cluster)
{
    // Orleans would retry membership for ever with no HTTP listener; a silo that cannot reach its storage exits.
    var unreachable = await StartupChecks.StorageProblemsAsync(options.Storage.ConnectionString, startupTimeout / 2);
    if (unreachable.Count > 0)
    {
        foreach (var p in unreachable) Console.Error.WriteLine($"prunefuse-silo: {p}");
        return 1;
    }
}
builder.Services.AddOptions<SiloOptions>().Bind(builder.Configuration.GetSection("PruneFuse")).ValidateDataAnnotations().ValidateOnStart();
// The host gives up on slow stop steps a little before the process watchdog below ends the process.
builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownSeconds * 0.8));
builder.UseOrleans(silo =>
{
    silo.ConfigurePruneFuse(options);
    security?.Configure(silo);
});
if (security is not null) builder.WebHost.ConfigureKestrel(security.Configure);
builder.Services.AddHealthChecks().AddCheck<SiloHealthCheck>("silo");

var app = builder.Build();
security?.UseLogger(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PruneFuse.Security"));
app.UseBasicAuthentication(options.Http, tlsOnly: security is not null);
app.UseDashboardLink("/dashboard");
app.MapOrleansDashboard("/dashboard");
app.MapExperimentsPage();
app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
app.MapHealthChecks("/health/ready");
app.MapGet("/", () => Results.Redirect("/dashboard"));

// Starting means joining the cluster: bounded, so a silo that cannot join exits with one line instead of idling
// with no HTTP listener. A failed Orleans start can leave threads that keep the process up, so exit hard.
using (var startup = new CancellationTokenSource(startupTimeout))
using (var watchdog = new Timer(_ => ProcessExit.Now(1, $"could not start within {options.StartupSeconds} s (PruneFuse:StartupSeconds)"), null, startupTimeout + TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan))
{
    try
    {
        await app.StartAsync(startup.Token);
    }
    catch (Exception e)
    {
        ProcessExit.Now(1, startup.IsCancellationRequested
            ? $"could not start within {options.StartupSeconds} s (PruneFuse:StartupSeconds): {e.Message.Split('\n')[0].Trim()}"
            : $"could not start: {e.Message.Split('\n')[0].Trim()}");
    }
}
// One line that says where everything is: the log is often the first thing a user reads.
var dashboard = Addresses.Dashboard(app.Urls, options.AdvertisedAddress);
app.Services.GetRequiredService<PruneFuse.Grains.Hosting.SiloWebAddress>().Dashboard = dashboard;
app.Logger.LogInformation("PruneFuse silo ready: mode {Mode}, {Storage}, silo port {SiloPort}, gateway port {GatewayPort}, dashboard {Dashboard}, experiments page {Page}, scoring engine {Engine}",
    options.Mode.ToString().ToLowerInvariant(),
    options.Mode == SiloMode.Embedded ? $"data root {Path.GetFullPath(options.DataRoot)}" : $"storage container {options.Storage.Container}",
    options.SiloPort, options.GatewayPort, dashboard ?? "(no HTTP)", dashboard is null ? "(no HTTP)" : dashboard[..^"/dashboard".Length] + ExperimentsPage.Path,
    options.Scoring.Engine);
// The configured allowance is a promise to whoever sends SIGTERM (Kubernetes, the tests): keep it even if some
// shutdown step hangs. Torch work stops within a batch, so a normal stop takes seconds.
Timer? stopWatchdog = null;
using var stopping = app.Lifetime.ApplicationStopping.Register(() =>
    stopWatchdog = new Timer(_ => ProcessExit.Now(1, $"did not stop within {options.ShutdownSeconds} s (PruneFuse:ShutdownSeconds)"), null,
        TimeSpan.FromSeconds(options.ShutdownSeconds), Timeout.InfiniteTimeSpan));
await app.WaitForShutdownAsync();
stopWatchdog?.Dispose();
return 0;
