<?xml version="1.0" encoding="UTF-8"?>
<!-- TrialSite EDC's stylesheet for its Define-XML 2.1 documents (written for this project, XSLT 1.0):
     what a reviewer reads first - the standards, the datasets with their classes, structures and keys,
     every dataset's variables with type, length, codelist, origin and method, the value-level
     metadata, the codelists with the values used, the methods and the comments. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:odm="http://www.cdisc.org/ns/odm/v1.3"
    xmlns:def="http://www.cdisc.org/ns/def/v2.1"
    xmlns:xlink="http://www.w3.org/1999/xlink"
    exclude-result-prefixes="odm def xlink">
  <xsl:output method="html" encoding="UTF-8" indent="yes"/>
  <xsl:key name="item" match="odm:ItemDef" use="@OID"/>
  <xsl:key name="codelist" match="odm:CodeList" use="@OID"/>
  <xsl:key name="method" match="odm:MethodDef" use="@OID"/>
  <xsl:key name="comment" match="def:CommentDef" use="@OID"/>
  <xsl:key name="valuelist" match="def:ValueListDef" use="@OID"/>
  <xsl:key name="where" match="def:WhereClauseDef" use="@OID"/>
  <xsl:variable name="mdv" select="/odm:ODM/odm:Study/odm:MetaDataVersion"/>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="UTF-8"/>
        <title><xsl:value-of select="$mdv/@Name"/></title>
        <style>
          body { font-family: system-ui, sans-serif; margin: 0; color: #1d2733; font-size: 14px; }
          header { background: #18406b; color: #fff; padding: 12px 24px; margin-left: 200px; }
          header h1 { margin: 0; font-size: 20px; }
          header p { margin: 4px 0 0; opacity: .85; }
          nav { position: fixed; top: 0; bottom: 0; left: 0; width: 176px; overflow-y: auto;
                background: #f1f4f8; border-right: 1px solid #d5dce5; padding: 8px 12px; }
          nav a { display: block; color: #18406b; text-decoration: none; padding: 2px 0; }
          main { margin-left: 200px; padding: 8px 24px 48px; }
          h2 { font-size: 17px; border-bottom: 2px solid #18406b; padding-bottom: 4px; margin-top: 28px; }
          table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; table-layout: auto; }
          th, td { border: 1px solid #c9d2dc; padding: 3px 6px; text-align: left; vertical-align: top; }
          th { background: #e3e9f0; }
          td.text { overflow-wrap: anywhere; }
          .muted { color: #5b6878; }
          .ext { color: #8a4b00; }
        </style>
      </head>
      <body>
        <header>
          <h1><xsl:value-of select="$mdv/@Name"/></h1>
          <p>
            <xsl:value-of select="$mdv/@Description"/> - Define-XML <xsl:value-of select="$mdv/@def:DefineVersion"/>,
            created <xsl:value-of select="/odm:ODM/@CreationDateTime"/> (UTC) by
            <xsl:value-of select="/odm:ODM/@SourceSystem"/>
          </p>
        </header>
        <nav>
          <a href="#standards">Standards</a>
          <a href="#datasets"><b>Datasets</b></a>
          <xsl:for-each select="$mdv/odm:ItemGroupDef">
            <a href="#{@OID}"><xsl:value-of select="@Name"/></a>
          </xsl:for-each>
          <xsl:if test="$mdv/def:ValueListDef"><a href="#valuelevel">Value-level metadata</a></xsl:if>
          <a href="#codelists">Codelists</a>
          <a href="#methods">Methods</a>
          <a href="#comments">Comments</a>
        </nav>
        <main>
          <h2 id="standards">Standards</h2>
          <table>
            <tr><th>Name</th><th>Type</th><th>Version</th><th>Status</th></tr>
            <xsl:for-each select="$mdv/def:Standards/def:Standard">
              <tr><td><xsl:value-of select="@Name"/></td><td><xsl:value-of select="@Type"/></td>
                  <td><xsl:value-of select="@Version"/></td><td><xsl:value-of select="@Status"/></td></tr>
            </xsl:for-each>
          </table>
          <xsl:if test="$mdv/def:AnnotatedCRF">
            <p>Annotated CRF:
              <xsl:for-each select="$mdv/def:leaf[@ID = $mdv/def:AnnotatedCRF/def:DocumentRef/@leafID]">
                <a href="{@xlink:href}"><xsl:value-of select="def:title"/></a> (<xsl:value-of select="@xlink:href"/>)
              </xsl:for-each>
            </p>
          </xsl:if>

          <h2 id="datasets">Datasets</h2>
          <table>
            <tr><th>Dataset</th><th>Description</th><th>Class</th><th>Structure</th><th>Keys</th><th>Location</th></tr>
            <xsl:for-each select="$mdv/odm:ItemGroupDef">
              <tr>
                <td><a href="#{@OID}"><xsl:value-of select="@Name"/></a></td>
                <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
                <td><xsl:value-of select="def:Class/@Name"/></td>
                <td class="text"><xsl:value-of select="@def:Structure"/></td>
                <td>
                  <xsl:for-each select="odm:ItemRef[@KeySequence]">
                    <xsl:sort select="@KeySequence" data-type="number"/>
                    <xsl:value-of select="key('item', @ItemOID)/@Name"/>
                    <xsl:if test="position() != last()">, </xsl:if>
                  </xsl:for-each>
                </td>
                <td><a href="{def:leaf/@xlink:href}"><xsl:value-of select="def:leaf/def:title"/></a></td>
              </tr>
            </xsl:for-each>
          </table>

          <xsl:for-each select="$mdv/odm:ItemGroupDef">
            <h2 id="{@OID}">
              <xsl:value-of select="@Name"/> - <xsl:value-of select="odm:Description/odm:TranslatedText"/>
            </h2>
            <xsl:if test="@def:CommentOID">
              <p class="muted"><xsl:value-of select="key('comment', @def:CommentOID)/odm:Description/odm:TranslatedText"/></p>
            </xsl:if>
            <table>
              <tr><th>Variable</th><th>Label</th><th>Type</th><th>Length</th><th>Controlled terms</th><th>Origin</th><th>Derivation / comment</th></tr>
              <xsl:for-each select="odm:ItemRef">
                <xsl:variable name="it" select="key('item', @ItemOID)"/>
                <tr>
                  <td><xsl:value-of select="$it/@Name"/></td>
                  <td><xsl:value-of select="$it/odm:Description/odm:TranslatedText"/></td>
                  <td><xsl:value-of select="$it/@DataType"/></td>
                  <td><xsl:value-of select="$it/@Length"/></td>
                  <td>
                    <xsl:if test="$it/odm:CodeListRef">
                      <a href="#{$it/odm:CodeListRef/@CodeListOID}">
                        <xsl:value-of select="key('codelist', $it/odm:CodeListRef/@CodeListOID)/@Name"/>
                      </a>
                    </xsl:if>
                    <xsl:if test="$it/def:ValueListRef">
                      <xsl:text> </xsl:text><a href="#{$it/def:ValueListRef/@ValueListOID}">value-level</a>
                    </xsl:if>
                  </td>
                  <td>
                    <xsl:value-of select="$it/def:Origin/@Type"/>
                    <xsl:for-each select="$it/def:Origin/def:DocumentRef/def:PDFPageRef">
                      <xsl:text> (</xsl:text>
                      <a href="{$mdv/def:leaf[@ID = current()/../@leafID]/@xlink:href}#{@PageRefs}">CRF <xsl:value-of select="@PageRefs"/></a>
                      <xsl:text>)</xsl:text>
                    </xsl:for-each>
                  </td>
                  <td class="text">
                    <xsl:value-of select="key('method', @MethodOID)/odm:Description/odm:TranslatedText"/>
                    <xsl:value-of select="key('comment', $it/@def:CommentOID)/odm:Description/odm:TranslatedText"/>
                  </td>
                </tr>
              </xsl:for-each>
            </table>
          </xsl:for-each>

          <xsl:if test="$mdv/def:ValueListDef">
            <h2 id="valuelevel">Value-level metadata</h2>
            <xsl:for-each select="$mdv/def:ValueListDef">
              <h3 id="{@OID}"><xsl:value-of select="substring-after(@OID, 'VL.')"/></h3>
              <table>
                <tr><th>Where</th><th>Label</th><th>Type</th><th>Length</th><th>Origin</th></tr>
                <xsl:for-each select="odm:ItemRef">
                  <xsl:variable name="it" select="key('item', @ItemOID)"/>
                  <xsl:variable name="wc" select="key('where', def:WhereClauseRef/@WhereClauseOID)/odm:RangeCheck"/>
                  <tr>
                    <td><xsl:value-of select="key('item', $wc/@def:ItemOID)/@Name"/> = <xsl:value-of select="$wc/odm:CheckValue"/></td>
                    <td><xsl:value-of select="$it/odm:Description/odm:TranslatedText"/></td>
                    <td><xsl:value-of select="$it/@DataType"/></td>
                    <td><xsl:value-of select="$it/@Length"/></td>
                    <td><xsl:value-of select="$it/def:Origin/@Type"/></td>
                  </tr>
                </xsl:for-each>
              </table>
            </xsl:for-each>
          </xsl:if>

          <h2 id="codelists">Codelists</h2>
          <table>
            <tr><th>Codelist</th><th>NCI code</th><th>Values used (* = sponsor extension) or dictionary</th></tr>
            <xsl:for-each select="$mdv/odm:CodeList">
              <tr id="{@OID}">
                <td><xsl:value-of select="@Name"/><br/><span class="muted"><xsl:value-of select="@OID"/></span></td>
                <td><xsl:value-of select="odm:Alias[@Context='nci:ExtCodeID']/@Name"/></td>
                <td class="text">
                  <xsl:for-each select="odm:EnumeratedItem">
                    <xsl:value-of select="@CodedValue"/>
                    <xsl:if test="@def:ExtendedValue = 'Yes'"><span class="ext">*</span></xsl:if>
                    <xsl:if test="position() != last()">; </xsl:if>
                  </xsl:for-each>
                  <xsl:for-each select="odm:ExternalCodeList">
                    <xsl:value-of select="@Dictionary"/><xsl:text> </xsl:text><xsl:value-of select="@Version"/>
                  </xsl:for-each>
                </td>
              </tr>
            </xsl:for-each>
          </table>

          <h2 id="methods">Methods</h2>
          <table>
            <tr><th>Method</th><th>Type</th><th>Description</th></tr>
            <xsl:for-each select="$mdv/odm:MethodDef">
              <tr><td><xsl:value-of select="substring-after(@OID, 'MT.')"/></td><td><xsl:value-of select="@Type"/></td>
                  <td class="text"><xsl:value-of select="odm:Description/odm:TranslatedText"/></td></tr>
            </xsl:for-each>
          </table>

          <h2 id="comments">Comments</h2>
          <table>
            <tr><th>Comment</th><th>Text</th></tr>
            <xsl:for-each select="$mdv/def:CommentDef">
              <tr><td><xsl:value-of select="@OID"/></td>
                  <td class="text"><xsl:value-of select="odm:Description/odm:TranslatedText"/></td></tr>
            </xsl:for-each>
          </table>
        </main>
      </body>
    </html>
  </xsl:template>
</xsl:stylesheet>
