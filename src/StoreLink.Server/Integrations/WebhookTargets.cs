using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using StoreLink.Server.Http;

namespace StoreLink.Server.Integrations;

/// <summary>A webhook target the server refuses to call (a non-public address, SSRF).</summary>
public sealed class WebhookTargetRefusedException(string message) : Exception(message);

/// <summary>
/// SSRF rules for webhook targets: only public unicast addresses, unless the operator allows private ones
/// (<c>Webhooks:AllowPrivateTargets</c>) or names hosts or ranges (<c>Webhooks:AllowedTargets</c>). Checked when a
/// subscription is saved and again on every connection, against the addresses the connection really uses, since DNS
/// can change between the two (rebinding).
/// </summary>
public sealed class WebhookTargets(IOptionsMonitor<WebhookOptions> options)
{
    private static readonly IPNetwork[] NonPublic = [.. new[]
    {
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
        "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
    }.Select(IPNetwork.Parse)];

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");
    private static readonly IPNetwork V4Compatible = IPNetwork.Parse("::/96");

    public static bool IsPublic(IPAddress address)
    {
        address = Unwrap(address);
        return !NonPublic.Any(n => n.Contains(address));
    }

    /// <summary>
    /// The IPv4 address an IPv6 address carries, if it carries one — mapped (<c>::ffff:0:0/96</c>), NAT64
    /// (<c>64:ff9b::/96</c>), 6to4 (<c>2002::/16</c>) or IPv4-compatible (<c>::/96</c>) — so the IPv4 rules judge it;
    /// otherwise the address itself. Each of these can reach the embedded IPv4 host through a gateway.
    /// </summary>
    public static IPAddress Unwrap(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
            return address;
        if (address.IsIPv4MappedToIPv6)
            return address.MapToIPv4();
        var bytes = address.GetAddressBytes();
        if (Nat64.Contains(address) || V4Compatible.Contains(address))
            return new IPAddress(bytes.AsSpan(12, 4));
        if (SixToFour.Contains(address))
            return new IPAddress(bytes.AsSpan(2, 4));
        return address;
    }

    /// <summary>Whether the server may connect to <paramref name="address"/> for <paramref name="host"/>.</summary>
    public bool IsAllowed(string host, IPAddress address)
    {
        var o = options.CurrentValue;
        if (o.AllowPrivateTargets || IsPublic(address))
            return true;
        address = Unwrap(address);
        foreach (var allowed in o.AllowedTargets)
        {
            if (allowed.Contains('/') ? IPNetwork.Parse(allowed).Contains(address) : string.Equals(allowed.Trim().TrimEnd('.'), host.TrimEnd('.'), StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    private static async Task<IPAddress[]> LookupAsync(string host, CancellationToken ct)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
            return [literal];
        // A resolver that does not answer must not hold a request (or an attempt) for long.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            return await Dns.GetHostAddressesAsync(host, timeout.Token);
        }
        catch (SocketException e)
        {
            throw new WebhookTargetRefusedException($"The host {host} cannot be resolved ({e.SocketErrorCode}).");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new WebhookTargetRefusedException($"The host {host} could not be resolved in time.");
        }
    }

    private static string Refusal(string host, IPAddress address) =>
        $"The host {host} resolves to a non-public address ({address}); an operator may allow it with Webhooks:AllowPrivateTargets or Webhooks:AllowedTargets.";

    /// <summary>The addresses of <paramref name="host"/> the server may use; refused when there is none.</summary>
    public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct)
    {
        var addresses = await LookupAsync(host, ct);
        if (addresses.Length == 0)
            throw new WebhookTargetRefusedException($"The host {host} has no address.");
        var allowed = addresses.Where(a => IsAllowed(host, a)).ToArray();
        return allowed.Length > 0 ? allowed : throw new WebhookTargetRefusedException(Refusal(host, addresses[0]));
    }

    /// <summary>When a subscription is saved every address of its host must be allowed, not just one.</summary>
    public async Task CheckAsync(Uri url, CancellationToken ct)
    {
        var host = url.IdnHost;
        var addresses = await LookupAsync(host, ct);
        if (addresses.Length == 0)
            throw new WebhookTargetRefusedException($"The host {host} has no address.");
        if (addresses.FirstOrDefault(a => !IsAllowed(host, a)) is { } refused)
            throw new WebhookTargetRefusedException(Refusal(host, refused));
    }

    public const int MaxUrlLength = 2000;

    /// <summary>
    /// An absolute http(s) address without user info or fragment, whose host resolves only to allowed addresses; a
    /// problem is added to <paramref name="v"/> under <paramref name="field"/>. Answers the address as stored.
    /// </summary>
    public async Task<string?> CheckUrlAsync(Validation v, string field, string? value, CancellationToken ct)
    {
        var text = value?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            v.Add(field, "Required: the https:// (or http://) address of the system.");
            return null;
        }
        if (text.Length > MaxUrlLength || !Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http")
            || !string.IsNullOrEmpty(url.UserInfo) || !string.IsNullOrEmpty(url.Fragment))
        {
            v.Add(field, $"An absolute http(s) address of at most {MaxUrlLength} characters, without user name or fragment.");
            return null;
        }
        try
        {
            await CheckAsync(url, ct);
        }
        catch (WebhookTargetRefusedException e)
        {
            v.Add(field, e.Message);
            return null;
        }
        // AbsoluteUri keeps the escaping (ToString() unescapes, which changes what a receiver's router sees).
        return url.AbsoluteUri;
    }

    /// <summary>
    /// An HTTP client for calls to integration targets: every connection checked by <see cref="ConnectAsync"/>, no
    /// redirects (a redirect could lead past the check), no proxy, no cookies; each call sets its own timeout.
    /// </summary>
    public HttpClient NewClient(string userAgent)
    {
        var client = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = ConnectAsync,
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        }) { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.UserAgent.ParseAdd(userAgent);
        return client;
    }

    /// <summary>
    /// The handler's connect step: resolve, keep the allowed addresses, connect to one of them. Connecting to exactly
    /// the addresses that were checked closes the gap between a check and the connection's own DNS look-up.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var allowed = await ResolveAsync(context.DnsEndPoint.Host, ct);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
