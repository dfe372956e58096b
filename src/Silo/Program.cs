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
if (problems.Count > 0)
{
    foreach (var p in problems) Console.Error.WriteLine($"prunefuse-silo: invalid configuration: {p}");
    return 2;
}
builder.Services.AddOptions<SiloOptions>().Bind(builder.Configuration.GetSection("PruneFuse")).ValidateDataAnnotations().ValidateOnStart();
builder.UseOrleans(silo => silo.ConfigurePruneFuse(options));
builder.Services.AddHealthChecks().AddCheck<SiloHealthCheck>("silo");

var app = builder.Build();
app.MapOrleansDashboard("/dashboard");
app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
app.MapHealthChecks("/health/ready");
app.MapGet("/", () => Results.Redirect("/dashboard"));
app.Run();
return 0;
