using Orleans.Dashboard;
using Microsoft.Extensions.Options;
using PruneFuse.Silo;

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
    Console.Error.WriteLine($"prunefuse-silo: invalid configuration: {e.Message}");
    return 2;
}
// Orleans is configured from these options before the host starts, so validate them here and fail fast.
var problems = options.Problems();
// Embedded mode has no authentication by default, so it must not be reachable from other machines.
if (options.Mode == SiloMode.Embedded)
{
    foreach (var url in HttpAccess.NonLoopbackUrls(builder.Configuration["urls"]))
    {
        problems.Add($"Urls: embedded mode serves HTTP on 127.0.0.1 only, not '{url}' (run in cluster mode, with PruneFuse:Http:Password, to serve other machines)");
    }
}
if (problems.Count > 0)
{
    foreach (var p in problems) Console.Error.WriteLine($"prunefuse-silo: invalid configuration: {p}");
    return 2;
}
builder.Services.AddOptions<SiloOptions>().Bind(builder.Configuration.GetSection("PruneFuse")).ValidateDataAnnotations().ValidateOnStart();
builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownSeconds));
builder.UseOrleans(silo => silo.ConfigurePruneFuse(options));
builder.Services.AddHealthChecks().AddCheck<SiloHealthCheck>("silo");

var app = builder.Build();
app.UseBasicAuthentication(options.Http);
app.MapOrleansDashboard("/dashboard");
app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
app.MapHealthChecks("/health/ready");
app.MapGet("/", () => Results.Redirect("/dashboard"));
app.Run();
return 0;
