using Microsoft.AspNetCore.Mvc;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Http;

namespace StoreLink.Server.Web.Console;

/// <summary>Sign-in with a staff login and password: the same check, throttle and token as <c>POST /v1/auth/login</c>.</summary>
public sealed class LoginModel(ConsoleStrings strings, AuthActions auth) : ConsolePage(strings)
{
    public string? Error { get; private set; }

    [BindProperty(Name = "login")]
    public string? Login { get; set; }

    [BindProperty(Name = "password")]
    public string? Password { get; set; }

    [BindProperty(Name = "return_url", SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        try
        {
            var session = await auth.LoginAsync(new LoginRequest(Login, Password), CurrentUser.AddressOf(HttpContext), CurrentUser.UserAgentOf(HttpContext), ct);
            Response.Cookies.Append(ConsoleSessionHandler.CookieName, session.AccessToken, ConsoleSessionHandler.CookieOptions(Request, session.ExpiresAt));
            return LocalRedirect(SafeReturn(ReturnUrl));
        }
        catch (ApiException e)
        {
            (Response.StatusCode, Error) = e.Code switch
            {
                ErrorCodes.RateLimited => (429, T("login.rate_limited")),
                ErrorCodes.InvalidRequest => (400, T("login.required")),
                _ => (401, T("login.wrong")),
            };
            if (e.RetryAfterSeconds is { } seconds)
                Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Page();
        }
    }

    /// <summary>Only a path of the console itself: never another site, never a protocol-relative URL.</summary>
    public static string SafeReturn(string? url) =>
        url is { Length: > 0 and < 500 } && url.StartsWith("/console", StringComparison.Ordinal) && !url.StartsWith("/console/login", StringComparison.Ordinal) &&
        !url.Contains("//", StringComparison.Ordinal) && !url.Contains("..", StringComparison.Ordinal) && !url.Contains('\\', StringComparison.Ordinal)
            ? url
            : "/console";
}
