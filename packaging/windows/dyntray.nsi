; The Windows installer of Dyntray: a per-user install (no administrator, no UAC prompt)
; into %LOCALAPPDATA%\Programs\Dyntray, as the Microsoft Store and most per-user apps do.
; Built by scripts/package-windows.sh, which passes:
;   VERSION         the workspace version, e.g. 0.1.0 (shown to the user, in the registry)
;   VERSION_QUAD    the same as four numbers, e.g. 0.1.0.0 (the PE version resource)
;   BIN_DIR         the directory holding the three .exe files and WebView2Loader.dll
;   OUT_FILE        where to write the installer
;   CRATE_LICENCES  optional: the Rust crates' licences, shipped as rust-crates.txt
;   COMPRESSOR      optional: lzma (the default) or zlib
;
; Command line (besides NSIS's own /S for silent and /D=DIR, which must come last):
;   /AUTOSTART=0|1  start Dyntray at sign-in or not; default: 1 on a first install, and
;                   on an upgrade whatever the user chose since (see .onInit)
; The uninstaller: /S, and /REMOVEDATA to delete the settings, history and saved
; passwords too.

; Unicode, 64-bit: the programs it installs are x86_64 only.
Target amd64-unicode
ManifestDPIAware true
RequestExecutionLevel user
; LZMA for what ships; make test packs its debug build with zlib (COMPRESSOR=zlib), which
; takes seconds where LZMA takes minutes.
!ifndef COMPRESSOR
  !define COMPRESSOR lzma
!endif
SetCompressor /SOLID ${COMPRESSOR}
; The three programs share most of their code (the engine), but each is over 8 MB: with
; LZMA's default 8 MB window a program's matches in the one before it fall out of reach
; once it grows past that. 64 MB holds all three (the installer needs that much memory
; to unpack, for a moment).
!if "${COMPRESSOR}" == "lzma"
  SetCompressorDictSize 64
!endif

!include MUI2.nsh
!include FileFunc.nsh
!include LogicLib.nsh
!include Sections.nsh

!ifndef VERSION | VERSION_QUAD | BIN_DIR | OUT_FILE
  !error "run scripts/package-windows.sh, which defines VERSION, VERSION_QUAD, BIN_DIR and OUT_FILE"
!endif

!define APP "Dyntray"
!define PUBLISHER "Dyntray developers"
!define ROOT "${__FILEDIR__}/../.."
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"
; The app's own "Start at login" toggle reads and writes this same value, so its name
; and format ("<dir>\dyntray.exe", quoted) are shared with the app and must not change.
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define RUN_VALUE "$\"$INSTDIR\dyntray.exe$\""
; Dyntray's registration for toasts (its AppUserModelID, as in src-tauri/src/notify/
; toast.rs): the name and picture Windows shows on them. Without it Windows drops a
; program's toasts and the tray shows balloons instead.
!define APP_ID_KEY "Software\Classes\AppUserModelId\org.dyntray.Dyntray"
; Task Manager's "Startup apps" switch: a value of the same name here marks it disabled.
; Turning autostart on leaves that mark alone (an upgrade must not undo the user's
; choice there); turning it off or uninstalling clears it, as the app's toggle does.
!define STARTUP_APPROVED_KEY "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
; The Evergreen WebView2 Runtime's registration, per machine and per user.
!define WEBVIEW2_CLIENT "Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_URL "https://go.microsoft.com/fwlink/p/?LinkId=2124703"

Name "${APP}"
OutFile "${OUT_FILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP}"
; An upgrade goes where the user put the previous version.
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"
BrandingText "${APP} ${VERSION}"
ShowInstDetails show
ShowUninstDetails show

VIProductVersion "${VERSION_QUAD}"
VIFileVersion "${VERSION_QUAD}"
VIAddVersionKey "ProductName" "${APP}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${APP} ${VERSION} setup"
VIAddVersionKey "LegalCopyright" "${PUBLISHER}, MIT OR Apache-2.0"

Var FinishText
Var WebView2Missing

!define MUI_ICON "${ROOT}/icons/icon.ico"
!define MUI_UNICON "${ROOT}/icons/icon.ico"
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_SMALLDESC

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
; Dynamic text and link: the WebView2 note is there only when the runtime is missing.
!define MUI_PAGE_CUSTOMFUNCTION_PRE FinishPre
!define MUI_PAGE_CUSTOMFUNCTION_SHOW FinishShow
!define MUI_FINISHPAGE_TEXT "$FinishText"
!define MUI_FINISHPAGE_TEXT_LARGE
!define MUI_FINISHPAGE_RUN "$INSTDIR\dyntray.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Run ${APP}"
!define MUI_FINISHPAGE_LINK "Download the WebView2 Runtime from Microsoft"
!define MUI_FINISHPAGE_LINK_LOCATION "${WEBVIEW2_URL}"
!insertmacro MUI_PAGE_FINISH

!define MUI_UNCONFIRMPAGE_TEXT_TOP "${APP} will be removed from the folder below. Your \
  settings, history and saved passwords are kept unless you choose otherwise on the \
  next page."
!insertmacro MUI_UNPAGE_CONFIRM
!define MUI_COMPONENTSPAGE_TEXT_TOP "Your settings, history and saved passwords are kept \
  unless you tick the box: a new install finds them as they were."
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"

; Sets $1 to FILE when $1 is still "" and FILE is in use: opening a running program for
; writing fails (a sharing violation), on Windows as under Wine.
!macro DYNTRAY_IF_BUSY FILE
  ${If} $1 == ""
  ${AndIf} ${FileExists} "$INSTDIR\${FILE}"
    ClearErrors
    FileOpen $0 "$INSTDIR\${FILE}" a
    ${If} ${Errors}
      StrCpy $1 "${FILE}"
    ${Else}
      FileClose $0
    ${EndIf}
  ${EndIf}
!macroend

; Files in use cannot be replaced or deleted, and NSIS would skip them without a word in
; a silent run, leaving a half-updated install. So a running Dyntray is asked to quit
; first: `dyntrayd stop` sends Quit over the user's control pipe to whichever process
; serves it (the tray, which also closes its settings window, or a `dyntrayd run`), and
; exits non-zero when none runs. It returns once the request is accepted, not once the
; process is gone (the tray may publish "offline" addresses for up to 20 s before it
; exits), so what is waited for is the files becoming writable.
!macro DYNTRAY_FUNCTIONS UN
  ; Pushes the name of the first program file still in use, or "" when none is.
  Function ${UN}BusyFile
    Push $0
    Push $1
    StrCpy $1 ""
    !insertmacro DYNTRAY_IF_BUSY dyntray.exe
    !insertmacro DYNTRAY_IF_BUSY dyntrayd.exe
    !insertmacro DYNTRAY_IF_BUSY dyntray-settings.exe
    Exch $1
    Exch
    Pop $0
  FunctionEnd

  Function ${UN}StopDyntray
    ${If} ${FileExists} "$INSTDIR\dyntrayd.exe"
      nsExec::Exec /TIMEOUT=10000 '"$INSTDIR\dyntrayd.exe" stop'
      Pop $0
      DetailPrint "dyntrayd stop: $0 (1 when Dyntray was not running)"
    ${EndIf}
    ; Up to 60 s: the tray's bounded goodbye (20 s) with room to spare.
    StrCpy $1 0
    ${Do}
      Call ${UN}BusyFile
      Pop $0
      ${If} $0 == ""
        ${Break}
      ${EndIf}
      ${If} $1 >= 120
        MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION \
          "$0 is still running. Quit ${APP} (and any dyntrayd window), then click Retry." \
          /SD IDCANCEL IDRETRY retry
        DetailPrint "$0 is still running; nothing was changed"
        Abort "$0 is still running"
        retry:
        StrCpy $1 0
      ${EndIf}
      Sleep 500
      IntOp $1 $1 + 1
    ${Loop}
  FunctionEnd
!macroend
!insertmacro DYNTRAY_FUNCTIONS ""
!insertmacro DYNTRAY_FUNCTIONS "un."

Section "${APP}" SecMain
  SectionIn RO
  SetOutPath "$INSTDIR"
  Call StopDyntray

  ; The uninstaller deletes exactly these files: keep its list in step.
  File "${BIN_DIR}/dyntray.exe"
  File "${BIN_DIR}/dyntrayd.exe"
  File "${BIN_DIR}/dyntray-settings.exe"
  File "${BIN_DIR}/WebView2Loader.dll"
  File /oname=dyntray.png "${ROOT}/icons/128x128.png"
  File /oname=LICENSE-MIT.txt "${ROOT}/LICENSE-MIT"
  File /oname=LICENSE-APACHE.txt "${ROOT}/LICENSE-APACHE"
  !ifdef CRATE_LICENCES
    File /oname=rust-crates.txt "${CRATE_LICENCES}"
  !endif
  WriteUninstaller "$INSTDIR\Uninstall.exe"

  CreateShortcut "$SMPROGRAMS\${APP}.lnk" "$INSTDIR\dyntray.exe" "" "$INSTDIR\dyntray.exe" 0
  WriteRegStr HKCU "${APP_ID_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKCU "${APP_ID_KEY}" "IconUri" "$INSTDIR\dyntray.png"

  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\dyntray.exe,0"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" "$\"$INSTDIR\Uninstall.exe$\""
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" "$\"$INSTDIR\Uninstall.exe$\" /S"
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" $0
SectionEnd

Section "Start ${APP} when I sign in" SecAutostart
  WriteRegStr HKCU "${RUN_KEY}" "${APP}" "${RUN_VALUE}"
SectionEnd

; Unticking autostart on an upgrade turns it off.
Section "-AutostartOff"
  ${IfNot} ${SectionIsSelected} ${SecAutostart}
    DeleteRegValue HKCU "${RUN_KEY}" "${APP}"
    DeleteRegValue HKCU "${STARTUP_APPROVED_KEY}" "${APP}"
  ${EndIf}
SectionEnd

; The settings window is a WebView2 page; the tray and the address updates work without
; the runtime, so a missing one is pointed out, never a reason to stop.
Section "-WebView2"
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\${WEBVIEW2_CLIENT}" "pv"
  ; Microsoft: a version of "" or 0.0.0.0 means not installed (or removed).
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKCU "Software\${WEBVIEW2_CLIENT}" "pv"
  ${EndIf}
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    StrCpy $WebView2Missing 1
    DetailPrint "The Microsoft Edge WebView2 Runtime is missing: ${WEBVIEW2_URL}"
  ${Else}
    StrCpy $WebView2Missing 0
    DetailPrint "Microsoft Edge WebView2 Runtime $0 found"
  ${EndIf}
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecMain} "The tray app, its settings window and the \
    dyntrayd command-line tool."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecAutostart} "Runs ${APP} in the notification area \
    whenever you sign in to Windows. ${APP}'s settings can change this later."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Function .onInit
  ; An upgrade keeps the user's choice, which the app's own toggle may have changed since.
  ReadRegStr $0 HKCU "${UNINST_KEY}" "InstallLocation"
  ${If} $0 != ""
    ReadRegStr $1 HKCU "${RUN_KEY}" "${APP}"
    ${If} $1 == ""
      !insertmacro UnselectSection ${SecAutostart}
    ${EndIf}
  ${EndIf}

  ${GetParameters} $0
  ClearErrors
  ${GetOptions} $0 "/AUTOSTART=" $1
  ${IfNot} ${Errors}
    ${If} $1 == "1"
      !insertmacro SelectSection ${SecAutostart}
    ${ElseIf} $1 == "0"
      !insertmacro UnselectSection ${SecAutostart}
    ${Else}
      MessageBox MB_ICONSTOP "/AUTOSTART= takes 0 or 1, not '$1'." /SD IDOK
      SetErrorLevel 2
      Quit
    ${EndIf}
  ${EndIf}
FunctionEnd

Function FinishPre
  StrCpy $FinishText "${APP} ${VERSION} is installed. Find it in the Start menu, and its \
    icon in the notification area while it runs."
  ${If} $WebView2Missing == 1
    StrCpy $FinishText "$FinishText$\r$\n$\r$\nThe Settings window needs the Microsoft Edge \
      WebView2 Runtime, which this computer does not have yet. The tray icon and your \
      address updates work without it."
  ${EndIf}
FunctionEnd

Function FinishShow
  ${If} $WebView2Missing != 1
    ShowWindow $mui.FinishPage.Link ${SW_HIDE}
  ${EndIf}
FunctionEnd

; The uninstaller keeps the user's data unless asked: a reinstall, or a move to another
; folder, then finds the accounts, records and history as they were.
Section "un.${APP}" UnSecMain
  SectionIn RO
  Call un.StopDyntray
  ; While dyntrayd.exe and the config are still there to say which accounts they are.
  Call un.ForgetSecrets

  Delete "$INSTDIR\dyntray.exe"
  Delete "$INSTDIR\dyntrayd.exe"
  Delete "$INSTDIR\dyntray-settings.exe"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\dyntray.png"
  Delete "$INSTDIR\LICENSE-MIT.txt"
  Delete "$INSTDIR\LICENSE-APACHE.txt"
  Delete "$INSTDIR\rust-crates.txt"
  Delete "$INSTDIR\Uninstall.exe"
  ; Not /r: the user may have chosen a folder that holds other things too.
  RMDir "$INSTDIR"

  Delete "$SMPROGRAMS\${APP}.lnk"
  DeleteRegValue HKCU "${RUN_KEY}" "${APP}"
  DeleteRegValue HKCU "${STARTUP_APPROVED_KEY}" "${APP}"
  DeleteRegKey HKCU "${UNINST_KEY}"
  DeleteRegKey HKCU "${APP_ID_KEY}"
  ; The settings window's WebView2 profile, which Tauri keeps under the app identifier:
  ; a browser cache, nothing the user made (the page uses no web storage).
  RMDir /r "$LOCALAPPDATA\org.dyntray.Dyntray"
SectionEnd

; Where the engine keeps them (engine/src/paths.rs): the config in the roaming
; %APPDATA%\dyntray, the state store, history and logs in %LOCALAPPDATA%\dyntray; the
; passwords in Credential Manager, removed by un.ForgetSecrets before this runs.
Section /o "un.Also remove my settings, history and saved passwords" UnSecData
  RMDir /r "$APPDATA\dyntray"
  RMDir /r "$LOCALAPPDATA\dyntray"
SectionEnd

; The passwords Dyntray saved in Credential Manager, one per account of the config whose
; secret is kept there (secrets in a file or a variable are the user's own and stay).
Function un.ForgetSecrets
  ${If} ${SectionIsSelected} ${UnSecData}
  ${AndIf} ${FileExists} "$INSTDIR\dyntrayd.exe"
    nsExec::ExecToLog /TIMEOUT=20000 '"$INSTDIR\dyntrayd.exe" secret delete --all'
    Pop $0
    ${If} $0 != 0
      DetailPrint "Saved passwords could not all be removed ($0): see Credential Manager, \
        Windows Credentials, entries named ACCOUNT.dyntray"
    ${EndIf}
  ${EndIf}
FunctionEnd

!insertmacro MUI_UNFUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${UnSecMain} "The program, its Start menu shortcut and \
    its start at sign-in."
  !insertmacro MUI_DESCRIPTION_TEXT ${UnSecData} "Your accounts, names and history \
    (%APPDATA%\dyntray and %LOCALAPPDATA%\dyntray) and the passwords Dyntray saved in \
    Credential Manager."
!insertmacro MUI_UNFUNCTION_DESCRIPTION_END

Function un.onInit
  ${GetParameters} $0
  ClearErrors
  ${GetOptions} $0 "/REMOVEDATA" $1
  ${IfNot} ${Errors}
    !insertmacro SelectSection ${UnSecData}
  ${EndIf}
FunctionEnd
