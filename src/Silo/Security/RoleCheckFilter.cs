using System.Reflection;
using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Silo.Security;

/// <summary>
/// Runs a call to a PruneFuse grain (or Orleans' management grain) only when its signed caller certificate is
/// issued by the cluster's CA and its role may call the method; a refusal names the role and the method.
/// </summary>
public sealed class RoleCheckFilter(SiloSecurity security, ILogger<RoleCheckFilter> logger) : IIncomingGrainCallFilter
{
    private readonly TrustCache cache = new();

    /// <inheritdoc />
    public Task Invoke(IIncomingGrainCallContext context)
    {
        var method = context.InterfaceMethod;
        var declaring = method?.DeclaringType;
        var management = declaring == typeof(IManagementGrain);
        // Our interfaces carry "prunefuse." aliases: a call to one is checked even if its method cannot be resolved.
        var ours = context.InterfaceName.StartsWith("prunefuse.", StringComparison.OrdinalIgnoreCase)
            || declaring?.Namespace?.StartsWith("PruneFuse.", StringComparison.Ordinal) == true;
        if (!ours && !management) return context.Invoke();
        if (method is null || declaring is null)
        {
            throw new UnauthorizedAccessException($"refused {context.InterfaceName}.{context.MethodName}: its method "
                + $"cannot be resolved to check the caller's role");
        }
        var name = CallSigningFilter.MethodOf(context);
        System.Security.Cryptography.X509Certificates.X509Certificate2 caller;
        try
        {
            caller = CallIdentity.Verify(security.Credentials.Trust, context.TargetId.ToString(), name, cache);
        }
        catch (CallIdentityException e)
        {
            logger.LogWarning("Refused {Method}: {Reason}", name, e.Message);
            throw new UnauthorizedAccessException($"refused {declaring.Name}.{method.Name}: {e.Message}");
        }
        var viewerMay = management ? method.Name.StartsWith("Get", StringComparison.Ordinal)
            : method.GetCustomAttribute<ViewerMayCallAttribute>() is not null;
        if (!viewerMay && security.Roles.RoleOf(caller) == ClusterRole.Viewer)
        {
            logger.LogWarning("Refused {Method} to viewer {Subject}", name, caller.Subject);
            throw new UnauthorizedAccessException($"{declaring.Name}.{method.Name} needs the admin role; certificate "
                + $"{caller.Subject} has the viewer role (PruneFuse:Security:ViewerRules)");
        }
        return context.Invoke();
    }
}
